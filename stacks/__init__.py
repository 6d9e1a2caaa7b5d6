"""CDK for Terraform stacks. Thin: the logic lives in lostops.policy."""
