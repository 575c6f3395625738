"""Help menu: keyboard and mouse reference generated from the live actions, and About."""
