from tests.providers.okta.support import make  # noqa: F401 - the fixture, for every Okta test
