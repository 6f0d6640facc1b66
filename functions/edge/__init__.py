"""The edge webhooks: the only doors from outside (USSD gateway, Twilio SMS, voice and status)."""
