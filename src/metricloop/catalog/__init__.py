"""catalog"""

#: The folder of a project's definitions; here so ``catalog.cache`` (read by the CLI's fast doors)
#: and ``catalog.catalog`` share it without importing each other.
MODELS_DIR = "models"
