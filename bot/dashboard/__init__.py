"""The web dashboard's read side: questions about exceptions, checks and the audit log across
every repository a person may see, answered from the store the bot already keeps.

Nothing here calls a forge or reads a repository: the deadline sweep records how exceptions stand
(``bot.standing``), checks keep their reports (``bot.actions``), and the audit log is the audit
log. Every query takes the set of repositories the person may see (``None``: all of them) and
never returns anything outside it. Nothing here writes.
"""
