"""Contract suites shipped with the package, so that a provider or store written elsewhere can run
the same tests the in-tree ones do (like fsspec's abstract tests). They need pytest:

    from sweeper.testing.contract import AdapterContract, ContractSetup
    from sweeper.testing.store_contract import StoreContract
"""
