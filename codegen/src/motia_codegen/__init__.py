"""motia-codegen: OpenAPI 3.1, AsyncAPI 3.0 and a typed client module from a motia app's steps.

`motia codegen openapi|asyncapi|client` runs it from the command line; the functions below take a Registry
(`motia.discovery.discover(root)`) and return the document or the module source.
"""

from motia.openapi import openapi_document

from .asyncapi import asyncapi_document
from .client import client_module

__all__ = ["asyncapi_document", "client_module", "openapi_document"]
__version__ = "0.1.0"
