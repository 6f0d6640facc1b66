"""Voice+ campaigns on wrong-number calls, and USSD and SMS add-on offers (spec/voice-plus.md)."""
