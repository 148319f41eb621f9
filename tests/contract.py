"""The adapter contract suite lives in the package: `sweeper.testing.contract`."""

from sweeper.testing.contract import AdapterContract, ContractSetup

__all__ = ["AdapterContract", "ContractSetup"]
