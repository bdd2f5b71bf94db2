"""E-invoices in the shape of China's fully digitalised e-invoice (数电票), issued through a
tax-platform adapter; red-letter (红字) invoices for refunds."""
