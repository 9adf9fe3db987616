"""SendGrid: marketing contacts and lists, transactional sends, event webhook, suppressions."""
