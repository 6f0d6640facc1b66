"""Zero-balance callback requests (ZeroX): spec/missed-calls.md, "Zero-balance callback request"."""
