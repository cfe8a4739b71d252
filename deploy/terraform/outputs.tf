output "reports_host" {
  description = "The private container's own endpoint (403 without its token)."
  value       = scaleway_container.reports.domain_name
}

output "tollgate_host" {
  description = "tollgate's endpoint, once the gateway exists."
  value       = one(scaleway_container.tollgate[*].domain_name)
}

output "registry" {
  description = "Where to push the images."
  value       = scaleway_registry_namespace.tollgate.endpoint
}

output "store_location" {
  description = "secrets.store for tollgate.yaml (and STORE_LOCATION for the CLI)."
  value       = "scw:${scaleway_secret.store.id}"
}

output "keys_location" {
  description = "credentials.keys for tollgate.yaml (and KEYS_LOCATION for the CLI)."
  value       = "scw:${scaleway_secret.keys.id}"
}

output "upstream_secret_key" {
  description = "The key tollgate injects: put it in the store (tollgate secrets set reports-token)."
  value       = scaleway_iam_api_key.upstream.secret_key
  sensitive   = true
}
