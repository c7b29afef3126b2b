"""Teach a class: a teacher runs a live lesson, the class predicts together, then the truth is revealed.

The address decides who is looking (see diffviz/app/classroom.py): no class yet, a student
(?class=CODE&me=TOKEN) or the teacher (?class=CODE&key=KEY). The store decides what each may do.
"""

from diffviz.app import class_views, settings

s = settings.settings()
class_views.page(s)
