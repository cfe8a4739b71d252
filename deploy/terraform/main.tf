# tollgate in front of a private Serverless Container, with its keys and encrypted store in Secret
# Manager: the same as deploy/scaleway.md, step by step with the scw CLI. Two applies:
#   1. terraform apply -var project_id=… -var reports_image=…
#        the private container, IAM, the two empty secrets, the registry
#   2. put the container's token and a first key in the store (README.md here), build and push the
#      gateway image, then
#      terraform apply -var … -var gateway_image=rg.fr-par.scw.cloud/tollgate/gateway:1 -var master_key="$(cat tollgate-master.key)"

resource "scaleway_registry_namespace" "tollgate" {
  name      = "tollgate"
  is_public = false
}

# ── the private container ────────────────────────────────────────────────────────────────────────
resource "scaleway_container_namespace" "apps" {
  name = "apps"
}

resource "scaleway_container" "reports" {
  name           = "reports"
  namespace_id   = scaleway_container_namespace.apps.id
  registry_image = var.reports_image
  port           = 8080
  privacy        = "private"
  deploy         = true
}

# ── IAM: the key tollgate injects (ContainersPrivateAccess is project-wide) ─────────────────────────
resource "scaleway_iam_application" "upstream" {
  name = "tollgate-upstream"
}

resource "scaleway_iam_policy" "upstream" {
  name           = "tollgate-upstream"
  application_id = scaleway_iam_application.upstream.id
  rule {
    project_ids          = [var.project_id]
    permission_set_names = ["ContainersPrivateAccess"]
  }
}

resource "scaleway_iam_api_key" "upstream" {
  application_id = scaleway_iam_application.upstream.id
  description    = "tollgate X-Auth-Token"
}

# ── IAM: the key tollgate reads its stores with (read only: a gateway cannot change keys) ──────────
resource "scaleway_iam_application" "runtime" {
  name = "tollgate-runtime"
}

resource "scaleway_iam_policy" "runtime" {
  name           = "tollgate-runtime"
  application_id = scaleway_iam_application.runtime.id
  rule {
    project_ids          = [var.project_id]
    permission_set_names = ["SecretManagerReadOnly", "SecretManagerSecretAccess"]
  }
}

resource "scaleway_iam_api_key" "runtime" {
  application_id = scaleway_iam_application.runtime.id
  description    = "tollgate reads its stores"
}

# ── Secret Manager: empty secrets; every version is written by `tollgate secrets|keys` ──────────────
resource "scaleway_secret" "store" {
  name        = "store"
  path        = "/tollgate"
  description = "tollgate's encrypted secret store (written by tollgate only)"
}

resource "scaleway_secret" "keys" {
  name        = "keys"
  path        = "/tollgate"
  description = "tollgate's keys file (written by tollgate only)"
}

# ── the gateway ────────────────────────────────────────────────────────────────────────────────────
resource "scaleway_container_namespace" "gateway" {
  name = "gateway"
}

resource "scaleway_container" "tollgate" {
  count                  = var.gateway_image == "" ? 0 : 1
  name                   = "tollgate"
  namespace_id           = scaleway_container_namespace.gateway.id
  registry_image         = var.gateway_image
  port                   = 8080
  privacy                = "public"
  https_connections_only = true
  min_scale              = 1
  max_scale              = 5
  cpu_limit              = 1000
  memory_limit           = 1024
  deploy                 = true

  # what tollgate.yaml reads with ${env:…}: nothing secret
  environment_variables = {
    STORE_LOCATION = "scw:${scaleway_secret.store.id}" # scw:fr-par/<id>
    KEYS_LOCATION  = "scw:${scaleway_secret.keys.id}"
    REPORTS_HOST   = scaleway_container.reports.domain_name
  }
  secret_environment_variables = {
    TOLLGATE_MASTER_KEY = var.master_key
    SCW_SECRET_KEY      = scaleway_iam_api_key.runtime.secret_key
  }

  lifecycle {
    precondition {
      condition     = length(var.master_key) >= 43
      error_message = "Set master_key (openssl rand -base64 32) with the gateway image."
    }
  }
}
