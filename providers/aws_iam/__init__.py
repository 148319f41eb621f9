"""AWS IAM: console passwords and access keys from the credential report."""
