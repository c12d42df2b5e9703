"""E-mail: the SMTP mailer (an effect performer), the local mail folder (``.eml`` files) and
the development SMTP sink (aiosmtpd)."""
