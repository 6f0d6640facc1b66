# Secret values never pass through Terraform (they would sit in its state in clear text): the
# secrets are created empty and the operator adds versions with gcloud (see README.md).

locals {
  # Every secret, defined once by the platform (shared/infrastructure.yaml): several services may read one.
  secrets = local.platform_infrastructure.secrets

  # Which service may read which secret, as each service declares (`reads.secrets` in its
  # infrastructure.yaml); every other service gets none. Names no definition or runtime account answers
  # are left out here so that the database's precondition (infrastructure_problems) is the error shown.
  secrets_used_by = {
    for service, reads in local.infrastructure_reads : service => [
      for secret in reads.secrets : secret if contains(keys(local.secrets), secret)
    ] if length(reads.secrets) > 0 && contains(local.services, service)
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
