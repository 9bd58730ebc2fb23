"""The outbox: actions due to be sent, claimed under a lease by dispatchers (`claims`),
loaded with what rendering needs (`load`), their outcomes recorded, reviewed and resent,
and the promo codes they carry."""
