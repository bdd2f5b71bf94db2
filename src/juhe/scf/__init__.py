"""Supply-chain finance (供应链金融): a supplier's receivables from a buyer, confirmed by the buyer,
financed early by a funder on the buyer's credit (reverse factoring) or paid early by the buyer
at a discount (dynamic discounting); one claim per receivable."""
