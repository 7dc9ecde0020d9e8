"""The small-county fixtures moved to tests/conftest.py; this re-export goes once no test
module imports it any more."""

from tests.conftest import small_county_db_url, small_county_template  # noqa: F401
