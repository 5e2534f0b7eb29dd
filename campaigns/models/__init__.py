"""Leads, templates, campaigns, their recipients and links, and the suppression list.

The database enforces what must never break: unique public campaign ids, one
recipient per (campaign, lead), lead emails unique whatever their case, unguessable
recipient tokens, and statuses limited to their enums.
"""

from .abtest import ABTestDecision
from .base import TimestampedModel, new_campaign_id, new_token, status_check
from .bounces import SoftBounce
from .campaign import Campaign, CampaignCounters, CampaignLink, CampaignStatus, LiveCampaignManager
from .imports import LeadImport, LeadImportError, LeadImportStatus, import_upload_to
from .leads import LEAD_FIELDS, EmailStatus, Lead, LeadStatus, Suppression, SuppressionReason
from .recipients import CampaignRecipient, RecipientStatus, SequenceStatus, StopReason
from .segments import Segment
from .steps import CampaignStep, MessageStatus, RecipientMessage, StepCondition
from .templates import EmailTemplate

__all__ = [
    "LEAD_FIELDS",
    "ABTestDecision",
    "Campaign",
    "CampaignCounters",
    "CampaignLink",
    "CampaignRecipient",
    "CampaignStatus",
    "CampaignStep",
    "EmailStatus",
    "EmailTemplate",
    "Lead",
    "LeadImport",
    "LeadImportError",
    "LeadImportStatus",
    "LeadStatus",
    "LiveCampaignManager",
    "MessageStatus",
    "RecipientMessage",
    "RecipientStatus",
    "Segment",
    "SequenceStatus",
    "SoftBounce",
    "StepCondition",
    "StopReason",
    "Suppression",
    "SuppressionReason",
    "TimestampedModel",
    "import_upload_to",
    "new_campaign_id",
    "new_token",
    "status_check",
]
