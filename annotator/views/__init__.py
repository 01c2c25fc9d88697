"""Server-rendered htmx pages. Views call services and selectors; they hold no business logic."""
