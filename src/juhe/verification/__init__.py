"""Step-up verification of payments the risk engine does not let through on their own: a one-time
code (the payer's authenticator app by TOTP, or a code sent by SMS) and, for large amounts, a face
check; and the payers' adaptive password-free (免密) limits."""
