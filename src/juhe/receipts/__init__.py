"""Receipts (交易凭证) of succeeded payments and refunds: a record in the Merkle log, a PDF and a
page the payer opens from an unguessable link, each carrying the record's inclusion proof."""
