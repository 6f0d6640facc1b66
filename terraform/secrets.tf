# Secret values never pass through Terraform (they would sit in its state in clear text): the
# secrets are created empty and the operator adds versions with gcloud (see README.md).

locals {
  secrets = {
    twilio-account-sid = {
      env         = "VAS_TWILIO_ACCOUNT_SID"
      description = "Twilio account SID (ACxxxxxxxx) notify sends SMS with and missed_calls deletes recordings with."
    }
    twilio-auth-token = {
      env         = "VAS_TWILIO_AUTH_TOKEN"
      description = "Twilio auth token: notify's and missed_calls' API password, and the key the edge checks X-Twilio-Signature with."
    }
    ussd-gateway-secret = {
      env         = "VAS_USSD_GATEWAY_SECRET"
      description = "Shared secret of the carrier's USSD gateway (HMAC-SHA256 of the request body)."
    }
    ses-access-key-id = {
      env         = "VAS_SES_ACCESS_KEY_ID"
      description = "Access key id of the AWS IAM user notify sends email through Amazon SES with (ses:SendEmail only)."
    }
    ses-secret-access-key = {
      env         = "VAS_SES_SECRET_ACCESS_KEY"
      description = "Secret access key of that AWS IAM user."
    }
    voucher-code-key = {
      env         = "VAS_VOUCHER_CODE_KEY"
      description = "Key of the HMAC-SHA256 pay-card codes are stored under (a leaked database reveals no code); changing it orphans every loaded card."
    }
  }

  # Which service may read which secret; every other service gets none.
  secrets_used_by = {
    notify    = ["twilio-account-sid", "twilio-auth-token", "ses-access-key-id", "ses-secret-access-key"]
    edge      = ["twilio-auth-token", "ussd-gateway-secret"]
    transfers = ["voucher-code-key"]
    # Deletes voice messages' recordings through the Twilio API.
    missed_calls = ["twilio-account-sid", "twilio-auth-token"]
  }
}

resource "google_secret_manager_secret" "secret" {
  # Google-managed encryption; CMEK (customer_managed_encryption in replication) needs a KMS key the operator owns.
  for_each  = local.secrets
  secret_id = "vas-${each.key}"
  labels    = { app = "vas" }

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}
