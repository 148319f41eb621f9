"""What users' scripts do: list the identities, then ask about each one, sequentially.

    python bench/baseline.py PROVIDER CONFIG_JSON

PROVIDER is graph, google or aws; CONFIG_JSON the emulator's [providers.x] keys (bench/serve.py).
Each script is the reasonably efficient version of the knowledge-base pattern: one kept-alive HTTP
session (or one boto3 client per account), the largest page sizes the API allows for the listing,
then one request per identity (Graph: GET /users/{id}?$select=signInActivity; Directory: users.get;
AWS: ListAccessKeys per user and GetAccessKeyLastUsed per key). It prints one JSON line:
{"identities", "stale", "requests"}; stale uses the same 90-day rule, so its count can be checked.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

THRESHOLD = timedelta(days=90)


def _now() -> datetime:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from bench.scenarios import NOW

    return NOW


def _parse(value: str | None) -> datetime | None:
    if not value or value.startswith(("0001-", "1970-")):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def graph(config: dict[str, Any]) -> dict[str, int]:
    import requests

    now, base = _now(), config["endpoint"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {os.environ[config['token_env']]}"
    ids: list[str] = []
    url: str | None = f"{base}/users?$select=id&$top=999"
    requests_made = 0
    while url:
        page = session.get(url, timeout=60)
        page.raise_for_status()
        requests_made += 1
        body = page.json()
        ids += [u["id"] for u in body["value"]]
        url = body.get("@odata.nextLink")
    stale = 0
    for uid in ids:
        answer = session.get(f"{base}/users/{uid}?$select=id,userPrincipalName,accountEnabled,signInActivity",
                             timeout=60)
        answer.raise_for_status()
        requests_made += 1
        user = answer.json()
        last = _parse((user.get("signInActivity") or {}).get("lastSuccessfulSignInDateTime"))
        stale += bool(user.get("accountEnabled")) and last is not None and now - last > THRESHOLD
    return {"identities": len(ids), "stale": stale, "requests": requests_made}


def google(config: dict[str, Any]) -> dict[str, int]:
    import requests

    now, base = _now(), f"{config['endpoint']}/admin/directory/v1/users"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {os.environ[config['token_env']]}"
    keys: list[str] = []
    params: dict[str, Any] = {"customer": config["customer"], "maxResults": 500,
                              "fields": "users(id,primaryEmail),nextPageToken"}
    requests_made = 0
    while True:
        page = session.get(base, params=params, timeout=60)
        page.raise_for_status()
        requests_made += 1
        body = page.json()
        keys += [u["id"] for u in body.get("users", [])]
        if not body.get("nextPageToken"):
            break
        params["pageToken"] = body["nextPageToken"]
    stale = 0
    for key in keys:
        answer = session.get(f"{base}/{key}", timeout=60)
        answer.raise_for_status()
        requests_made += 1
        user = answer.json()
        last = _parse(user.get("lastLoginTime"))
        stale += not user.get("suspended") and last is not None and now - last > THRESHOLD
    return {"identities": len(keys), "stale": stale, "requests": requests_made}


def _aws_account(iam: Any, now: datetime) -> tuple[int, int, int]:
    users = stale = calls = 0
    for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1000}):
        calls += 1
        for user in page["Users"]:
            users += 1
            keys = iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]
            calls += 1
            for key in keys:
                used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
                calls += 1
                last = used.get("LastUsedDate")
                stale += key["Status"] == "Active" and last is not None and now - last > THRESHOLD
    return users, stale, calls


def aws(config: dict[str, Any]) -> dict[str, int]:
    import boto3

    now = _now()
    kwargs = {"endpoint_url": config["endpoint_url"], "region_name": config["region"]}
    users, stale, calls = _aws_account(boto3.client("iam", **kwargs), now)
    role = (config.get("organization") or {}).get("role_name")
    if role:
        sts = boto3.client("sts", **kwargs)
        home = sts.get_caller_identity()["Account"]
        org = boto3.client("organizations", **kwargs)
        calls += 1
        for page in org.get_paginator("list_accounts").paginate():
            calls += 1
            for account in page["Accounts"]:
                if account["Id"] == home or account["Status"] != "ACTIVE":
                    continue
                creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account['Id']}:role/{role}",
                                        RoleSessionName="inactive-users-script")["Credentials"]
                calls += 1
                iam = boto3.client("iam", aws_access_key_id=creds["AccessKeyId"],
                                   aws_secret_access_key=creds["SecretAccessKey"],
                                   aws_session_token=creds["SessionToken"], **kwargs)
                u, s, c = _aws_account(iam, now)
                users, stale, calls = users + u, stale + s, calls + c
    return {"identities": users, "stale": stale, "requests": calls}


def main(argv: list[str]) -> int:
    provider, config = argv[0], json.loads(argv[1])
    result = {"graph": graph, "google": google, "aws": aws}[provider](config)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
