data "google_project" "this" {
  project_id = var.project
}

locals {
  required_apis = toset([
    "artifactregistry.googleapis.com", # function images
    "cloudbuild.googleapis.com",       # builds the source archive into images
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com", # backlog and dead-letter alerts, `ops backlog`
    "pubsub.googleapis.com",
    "run.googleapis.com", # 2nd gen functions are Cloud Run services
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])

  # Google-managed identities that act on our behalf.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_project_service" "api" {
  for_each = local.required_apis
  project  = var.project
  service  = each.key
  # Turning an API off on destroy would break anything else in the project that uses it.
  disable_on_destroy = false
}
