"""A typed stream (`Stream[Todo]`)."""

from motia import Stream

from .models import Todo

todos = Stream[Todo]("todos")
