"""Feedback: the providers' message events (delivered, opened, bounced, complained) and
survey answers (CSAT, NPS, reviews)."""
