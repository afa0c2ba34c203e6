"""`sam local invoke` of every function with its events/ file, in the order of story.STORY."""

import pytest

import sam_local
from story import STORY, check, lambda_answer


@pytest.mark.parametrize("step", STORY, ids=[step.function for step in STORY])
def test_function_answers_its_event_under_sam_local_invoke(stack, step):
    answer, log = stack.invoke(step.function, step.event)
    check(step, lambda_answer(step, answer))
    assert "END RequestId" in log  # it ran in SAM's emulator, to the end


def test_the_story_invokes_every_function_once():
    # Every function of template.yaml (an HTTP route, a queue or a stream consumer, or a schedule's)
    # has its step.
    assert sorted(step.function for step in STORY) == sorted(sam_local.function_binaries())
