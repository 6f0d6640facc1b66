# Least privilege: one runtime identity per service (folder under functions/), one identity that
# may only invoke consumer functions (Pub/Sub push), one that builds images.

resource "google_service_account" "runtime" {
  for_each     = local.services
  account_id   = "vas-${each.key}"
  display_name = "VAS ${each.key} functions (runtime)"
}

resource "google_project_iam_member" "runtime_firestore" {
  # Firestore permissions exist only at project level; datastore.user reads and writes documents, nothing administrative.
  for_each = local.services
  project  = var.project
  role     = "roles/datastore.user"
  member   = "serviceAccount:${google_service_account.runtime[each.key].email}"
}

resource "google_pubsub_topic_iam_member" "runtime_publisher" {
  # Publisher on every catalog topic (and only those, not project-wide): which topics a service
  # publishes is decided in its code (ctx.emit, the dead-letter replay), which the catalog does not
  # record; a per-topic list here would drift silently and drop events with PERMISSION_DENIED.
  for_each = {
    for pair in setproduct(local.services, keys(local.topics)) : "${pair[0]}/${pair[1]}" => {
      service = pair[0]
      topic   = pair[1]
    }
  }
  topic  = google_pubsub_topic.topic[each.value.topic].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.runtime[each.value.service].email}"
}

resource "google_secret_manager_secret_iam_member" "runtime_secret_accessor" {
  for_each = {
    for pair in flatten([
      for service, secrets in local.secrets_used_by : [for secret in secrets : { service = service, secret = secret }]
    ]) : "${pair.service}/${pair.secret}" => pair
  }
  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime[each.value.service].email}"
}

# Pub/Sub signs each push with an OIDC token of this account; it can invoke consumers and nothing else.
resource "google_service_account" "push_invoker" {
  account_id   = "vas-push-invoker"
  display_name = "VAS Pub/Sub push to consumer functions"
}

resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = local.consumers
  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push_invoker.email}"
}

# The Pub/Sub service agent mints the push tokens (needed explicitly in projects made before April 2021).
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# Builds run as their own account instead of the Compute Engine default account, which new
# projects no longer grant build permissions to (and which is far too broad where they do).
resource "google_service_account" "build" {
  account_id   = "vas-function-build"
  display_name = "VAS function image builds"
}

resource "google_project_iam_member" "build" {
  # What a function build does and no more: read the source Cloud Functions stages in its own
  # gcf-v2-sources bucket, push the image to its gcf-artifacts repository, write the build log.
  # Both are created by Cloud Functions on first deploy, so the grants cannot name them here.
  # (roles/cloudbuild.builds.builder would also do, but it carries actAs on other accounts.)
  for_each = toset([
    "roles/artifactregistry.writer",
    "roles/logging.logWriter",
    "roles/storage.objectViewer",
  ])
  project = var.project
  role    = each.key
  member  = "serviceAccount:${google_service_account.build.email}"
}
