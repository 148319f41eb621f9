"""The fast authorization-details pages read the same users botocore's parser reads, page by page."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from providers.aws_iam import pages
from providers.emulator import Faults

FIELDS = ("UserName", "UserId", "Arn", "CreateDate", "Tags", "GroupList")


def _client(emu, **kwargs):
    # a fresh session each time: boto3's default session would keep another test's credentials
    return boto3.Session().client("iam", endpoint_url=emu.endpoint_url, region_name="us-east-1", **kwargs)


def _pages(iam, **kwargs):
    out, marker = [], None
    while True:
        page = iam.get_account_authorization_details(Filter=["User"], MaxItems=4,
                                                     **({"Marker": marker} if marker else {}), **kwargs)
        out.append(page)
        if not page.get("IsTruncated"):
            return out
        marker = page["Marker"]


def test_fast_pages_match_botocore(emu):
    plain = _client(emu)
    plain.create_group(GroupName="admins")
    plain.create_group(GroupName="ops")
    plain.add_user_to_group(GroupName="admins", UserName="mixed-keys")
    plain.add_user_to_group(GroupName="ops", UserName="mixed-keys")
    fast = pages.install(_client(emu))
    slow_pages, fast_pages = _pages(plain), _pages(fast)
    assert len(slow_pages) == len(fast_pages) > 1  # paged, with markers carried through
    slow = [{k: u.get(k, []) for k in FIELDS} for p in slow_pages for u in p["UserDetailList"]]
    quick = [{k: u.get(k, []) for k in FIELDS} for p in fast_pages for u in p[pages.USERS]]
    assert quick == slow
    assert any(u["Tags"] for u in quick) and any(sorted(u["GroupList"]) == ["admins", "ops"] for u in quick)
    assert all(not p.get("UserDetailList") for p in fast_pages)  # botocore parsed only the empty stand-in


def test_a_malformed_page_still_raises_botocores_error(emu):
    from botocore.parsers import ResponseParserError

    fast = pages.install(_client(emu, config=Config(retries={"total_max_attempts": 1})))
    emu.faults = Faults(rate_malformed=1.0, only=("GetAccountAuthorizationDetails",))
    with pytest.raises(ResponseParserError):  # what botocore raises without the hook too
        fast.get_account_authorization_details(Filter=["User"])
