"""Settlement: fee schedules, the business calendar, settlement batches and their payouts,
and the daily customer reserve-fund proof."""
