"""AWS IAM: console passwords and access keys from the credential report.

`PROVIDER` is what the core knows about this provider (entry point `identity_sweeper.providers`:
`aws`); this module imports no SDK.
"""

from sweeper.model import CredentialKind
from sweeper.registry import Control, ProviderInfo

_CIS = "CIS Amazon Web Services Foundations Benchmark v3.0.0"
_COMMON = (Control("NIST 800-53 AC-2(3)", "NIST SP 800-53 Rev. 5"), Control("SOC 2 CC6.2", "AICPA TSC 2017"))

PROVIDER = ProviderInfo(
    name="aws",
    display="AWS IAM",
    settings="providers.aws_iam.settings:AwsSettings",
    adapter="providers.aws_iam.adapter:AwsIamAdapter",
    install_hint="pip install boto3",
    credential_kinds=(CredentialKind.CONSOLE_PASSWORD, CredentialKind.ACCESS_KEY),
    controls={CredentialKind.ACCESS_KEY: (Control("CIS AWS 1.12", _CIS), *_COMMON),
              CredentialKind.CONSOLE_PASSWORD: (Control("CIS AWS 1.12", _CIS), *_COMMON)},
    irreversible={CredentialKind.CONSOLE_PASSWORD: "the console password was deleted; set a new one "
                                                   "(CreateLoginProfile)"},
    root_protection="the AWS root account is never touched",
    docs_intro="The sweeper reads one credential report and the authorization details of each account, "
               "then re-reads only the candidates live. Attach this policy to the identity it runs as (and, "
               "for an organization, to the role it assumes in each member account).",
)
