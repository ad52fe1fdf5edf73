"""The notifier: reminders from Kafka -> outbox -> delivery policy -> Apprise; replies come back."""
