"""The object-store contract suite lives in the package: `sweeper.testing.store_contract`."""

from sweeper.testing.store_contract import StoreContract

__all__ = ["StoreContract"]
