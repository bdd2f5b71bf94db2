"""Buy now, pay later (先享后付): credit lines, orders held against them, installments, repayments through the payments core, dunning and default."""
