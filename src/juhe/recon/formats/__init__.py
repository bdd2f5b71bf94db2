"""Statement files to rows of the STATEMENT frame, one module per family of files.

Each reader takes the raw file through its channel's own parser, which knows the channel's
field names and gives back channel-neutral types (StatementLine, BankStatement); here those
become rows. A reader is `(raw, channel, zone) -> list[row dict]`.
"""
