"""Registry back ends behind one interface (``base.RegistryBackend``), chosen by URI scheme:
``folder:///path`` (``folder.py``) and ``mlflow+http://host:port`` (``mlflow.py``)."""
