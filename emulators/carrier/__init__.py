"""The carrier emulator: the mobile network for local runs and tests.

- Twilio's Messages API (create, list, fetch) with signed status callbacks, so the real `twilio`
  client talks to it (`client.api.base_url = <emulator URL>`);
- an SMS centre with store-and-forward for detached phones;
- a network simulator with a control API under /control: phones, attach/detach (published to
  Pub/Sub topic network.attachment), USSD dialling to the USSD webhook, SMS to short codes;
- voice: calls forwarded (unreachable, busy, no-answer, unconditional) or placed to service numbers
  reach the voice webhook, their TwiML is played (Say, Play, Gather, Record, Redirect, Hangup,
  Reject) while a test or the phone CLI presses keys and speaks; Twilio's Recordings API;
- the charging system's zero-balance refusals (published to network.attempt-refused);
- `CarrierClient` for code and `python -m emulators.carrier phone …` for people.
"""

from emulators.carrier.client import CarrierClient, CarrierError

__all__ = ["CarrierClient", "CarrierError"]
