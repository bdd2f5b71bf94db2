"""Installments (分期): plans per merchant and channel, the schedule the payer sees before paying,
and payments whose installment fee the merchant bears (免息) booked exactly."""
