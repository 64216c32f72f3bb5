"""Read models shared by the doors: what the API returns and the UI draws, built in one place.

A page and its API route show the same thing the same way because both call the function here
(the incident board, one incident's story, the channels' state, who may see which record).
This layer sits below the doors (``api``, ``ui``) and above the facade, so neither door imports
the other; routes and pages stay thin: parse the request, call a view, render.
"""
