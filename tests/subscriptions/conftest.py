# The running stack (API + worker + every sandbox) of the payments tests: invoices are collected through the Alipay sandbox.
from tests.payments.conftest import data_dir, stack  # noqa: F401
