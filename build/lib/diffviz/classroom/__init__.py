"""Class mode's store: classes, anonymous students, their answers and the teacher's reveals.

No Streamlit here; imports only `diffviz.paths` (it sits at the data layer). Where the data lives:

    DIFFVIZ_DB_URL=postgresql://user:pw@host/db   PostgreSQL (several app machines share it)
    otherwise                                     SQLite: <DIFFVIZ_DATA or repo/data>/classes.sqlite3

Both are created on first use. `config.open_store()` gives the configured store; `store.ClassStore`
says who may do what; `questions.Question` is what a lesson hands it.
"""
