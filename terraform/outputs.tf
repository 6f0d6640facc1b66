output "webhook_urls" {
  description = "Public URL of every webhook, by catalog name: give them to the carrier's USSD gateway and to Twilio."
  # The URLs each webhook checks signatures against (functions.tf), once the function exists.
  value = { for name, function in google_cloudfunctions2_function.function : name => local.webhook_url[name] if contains(keys(local.webhooks), name) }
}

output "topic_names" {
  description = "Pub/Sub topic of every catalog topic (the operator's mediation and BSS publish to the network.* and bss.* ones)."
  value       = { for name, topic in google_pubsub_topic.topic : name => topic.id }
}

output "push_invoker_service_account" {
  description = "Identity in the OIDC token of every push to a consumer function."
  value       = google_service_account.push_invoker.email
}

output "secret_ids" {
  description = "Secret Manager secrets the operator adds versions to (see README.md)."
  value       = { for name, secret in google_secret_manager_secret.secret : name => secret.secret_id }
}
