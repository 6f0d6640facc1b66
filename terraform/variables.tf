variable "project" {
  description = "Google Cloud project id to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions, the source bucket and the scheduler jobs."
  type        = string
  default     = "europe-west1"
}

variable "firestore_location" {
  description = "Firestore location (a region such as europe-west1, or a multi-region such as eur3). Cannot change after creation."
  type        = string
  default     = "eur3"
}

variable "operator" {
  description = "Operator profile name: shared/operators/<operator>.yaml (VAS_OPERATOR)."
  type        = string
  default     = "demo"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.operator))
    error_message = "operator is a profile file name in shared/operators/, without .yaml."
  }
}

variable "log_level" {
  description = "Log level of every function (VAS_LOG_LEVEL)."
  type        = string
  default     = "INFO"
}

variable "function_memory" {
  description = "Memory of each function instance; CPU follows memory unless set."
  type        = string
  default     = "512M"
}

variable "function_max_instances" {
  description = "Upper bound of instances per function (protects Firestore and the carrier's API from a flood)."
  type        = number
  default     = 20
}

variable "webhook_min_instances" {
  description = "Warm instances per webhook: the USSD gateway gives up after a few seconds, longer than a Python cold start."
  type        = number
  default     = 1
}

variable "schedule_time_zone" {
  description = "Time zone of the catalog's cron schedules."
  type        = string
  default     = "Etc/UTC"
}

variable "backlog_alert_age_seconds" {
  description = "Alert when a subscription's oldest undelivered message is older than this (seconds)."
  type        = number
  default     = 600
}

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) the alerts go to."
  type        = list(string)
  default     = []
}

variable "subscription_message_retention" {
  description = "How long subscriptions keep messages, acknowledged ones included: how far back `ops seek` can go."
  type        = string
  default     = "604800s"
}

variable "ses_region" {
  description = "AWS region of the Amazon SES account notify sends email through (VAS_SES_REGION)."
  type        = string
  default     = "eu-central-1"
}

variable "email_sender" {
  description = "The From address of every email: an identity verified in SES in ses_region (VAS_EMAIL_SENDER)."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s.]+$", var.email_sender))
    error_message = "email_sender is an email address (name@domain.tld) verified in SES."
  }
}

variable "ses_endpoint" {
  description = "SES API URL (VAS_SES_ENDPOINT); empty: AWS's endpoint of ses_region."
  type        = string
  default     = ""
}
