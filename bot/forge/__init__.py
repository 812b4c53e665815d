"""Access to forges (GitHub, GitLab) and to git itself. Only this package talks to them."""
