"""The video service's AWS CDK app: one stack, its settings, and the Chalice bundle it deploys."""
