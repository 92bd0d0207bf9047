"""The AWS rehearsal: the synthesized stack run offline under the rules AWS enforces.

`python -m rehearsal` (`make rehearse`) synthesizes the CDK app, creates its resources on moto's
server with IAM enforcement on, gives every function a principal carrying exactly its
synthesized role policy and runs each handler under it. Every AWS call a function makes is
recorded as the IAM request it is (action, resource, condition context) and judged twice: by
moto (S3 by resource; other services by action only, see `principals.py`) and by this package's
own evaluator (`policy.py`), which also checks resources and conditions everywhere.
"""
