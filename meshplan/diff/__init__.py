"""`meshplan diff` behind the command: the two states compared (`states`: rendered,
at a git ref, or exported), the comparison (`compare`), secret config changes
(`passphrase`) and the printed forms (`formats`: text, markdown, JSON)."""
