variable "region" {
  description = "Scaleway region of every resource (fr-par, nl-ams, pl-waw)."
  type        = string
  default     = "fr-par"
}

variable "project_id" {
  description = "Project of the containers, the registry and the secrets."
  type        = string
}

variable "reports_image" {
  description = "Image of the private container tollgate protects, e.g. rg.fr-par.scw.cloud/apps/reports:1.0."
  type        = string
}

variable "gateway_image" {
  description = "tollgate's image with tollgate.yaml in it (deploy/scaleway.md, step 7). Empty on the first apply: the gateway is created once its store holds the container's token."
  type        = string
  default     = ""
}

variable "master_key" {
  description = "tollgate's master key (32 random bytes, base64: openssl rand -base64 32). It is kept in the Terraform state: keep the state encrypted, or set the container's TOLLGATE_MASTER_KEY outside Terraform."
  type        = string
  sensitive   = true
  default     = ""
}
